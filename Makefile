# netbsd-xen-harness. Every target installs what it needs first (scripts/setup.sh is idempotent).
SHELL := /bin/bash
BOX ?=
## XEN=xenkernelNNN: the Xen pair for `make specs` / `make specs-double` (NBXEN_XEN, like `nbxen up --xen`).
XEN ?=
## XEN_PACKAGE=PATH[:PATH]: a locally built xenkernelNNN/xentoolsNNN pair to install (NBXEN_XEN_PACKAGE, like `nbxen up --xen-package`).
XEN_PACKAGE ?=
## UPDATE_XEN_TO=xenkernelNNN|PATH[:PATH]: after the HOWTO steps, update Xen in place (spec 09; NBXEN_UPDATE_XEN_TO, like `nbxen update-xen --to`).
UPDATE_XEN_TO ?=
SPEC_ENV = $(if $(XEN),NBXEN_XEN=$(XEN)) $(if $(XEN_PACKAGE),NBXEN_XEN_PACKAGE=$(XEN_PACKAGE)) $(if $(UPDATE_XEN_TO),NBXEN_UPDATE_XEN_TO=$(UPDATE_XEN_TO))
NBXEN := node bin/nbxen.js
MOCHA := npx mocha
BOX_FLAG := $(if $(BOX),--box $(BOX),)

.PHONY: setup up test check typecheck format-check import-check format unit howto-coverage integration specs specs-double bench doctor clean

setup:
	@bash scripts/setup.sh

## The main job: build/install the box, run every HOWTO step, leave it running (BOX=debian-13 to pick a box).
up: setup
	$(NBXEN) up $(BOX_FLAG)

## Everything CI runs: type, format and import checks, unit and integration tests, the HOWTO specs on debian-12 and debian-13 (real Xen 4.17 and 4.20; BOX=NAME: that box only) and on the three NetBSD boxes against the installed-NetBSD test double.
DEBIAN_BOXES := debian-12 debian-13
test: setup check unit howto-coverage integration
	for b in $(or $(BOX),$(DEBIAN_BOXES)); do $(MAKE) --no-print-directory specs BOX=$$b || exit 1; done
	$(MAKE) --no-print-directory specs-double BOX=netbsd-6.1.5
	@# netbsd-9.4 installs a locally built pair and updates to the mirror's; the others update to a local pair.
	$(MAKE) --no-print-directory specs-double BOX=netbsd-9.4 XEN_PACKAGE=$(CURDIR)/.nbxen-double/netbsd-9.4/mirror/local-xen UPDATE_XEN_TO=xenkernel415
	$(MAKE) --no-print-directory specs-double BOX=netbsd-10.1

check: typecheck format-check import-check

## No import cycles, and each layer imports only those below it (dependency-cruiser, rules in .dependency-cruiser.cjs).
import-check: setup
	npx depcruise --validate .dependency-cruiser.cjs lib images harness testkit specs bench bin

typecheck: setup
	npx tsc --noEmit -p .

format-check: setup
	npx prettier --check .

format: setup
	npx prettier --write .

unit: setup
	$(MOCHA) 'specs/unit/**/*.test.ts'

## Coverage of both revisions of the project's HOWTO text (docs/howto/) for the Debian boxes and a NetBSD box: exit 1
## when a command or config block maps to no line of harness/howto/lines.ts, or the table has a revision wrong.
HOWTO_TEXT := docs/howto/netbsd-xen-howto.side-by-side.txt
howto-coverage: setup
	@for b in $(DEBIAN_BOXES) netbsd-10.1; do for r in old new; do \
	  $(NBXEN) howto coverage $(HOWTO_TEXT) --revision $$r --box $$b | grep '^summary:' | sed "s/^/$$b $$r: /" && \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; done; done

integration: setup
	$(MOCHA) 'specs/integration/**/*.test.ts'

## The HOWTO specs against one box (default debian-12): JUnit XML and a summary in .nbxen/reports/.
specs: setup
	NBXEN_BOX=$(or $(BOX),debian-12) $(SPEC_ENV) bash scripts/run-specs.sh

## The HOWTO specs of a netbsd-* box against the installed-NetBSD test double (specs/doubles/netbsd/).
specs-double: setup
	$(SPEC_ENV) bash specs/doubles/netbsd/specs-double.sh $(or $(BOX),netbsd-10.1)

## The speed figures side by side with a raw floor measured in the same run, ratios, targets (bench/run.ts):
## 12-25 min under TCG; BENCH=quick skips the HOWTO runs (about 2 min). Exit 1 when a target is missed.
BENCH ?=
bench: setup
	$(if $(BENCH),BENCH=$(BENCH)) npx tsx bench/run.ts

doctor: setup
	$(NBXEN) doctor

clean:
	rm -rf .nbxen/machines .nbxen/reports
