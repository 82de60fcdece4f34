; The accelerator probe: a 512-byte boot sector that walks the CPU through what Xen and a dom0 kernel
; need before it trusts an accelerator: real mode -> protected mode -> 4-level paging and long mode ->
; a timer interrupt (PIT through the 8259 PIC, a 64-bit IDT gate) -> a banner. Each stage prints a line
; on COM1 as it is reached, so a stall can be named ("protected-mode reached, stalled entering long mode").
;
; The bytes in accel-probe.ts are this file assembled with `nasm -f bin accel-probe.asm`; the unit test
; specs/unit/accel-probe.test.ts assembles it again and compares, so source and bytes cannot drift.

bits 16
org 0x7c00

COM1 equ 0x3f8
PML4 equ 0x1000                 ; PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000 (identity map, 2 MiB page)
IDT equ 0x4000                  ; 256 gates of 16 bytes
TICKS_WANTED equ 3

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    mov si, msg_real
    call print16
    lgdt [gdtr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp 0x08:pm32

print16:
    mov dx, COM1
.next:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .next
.done:
    ret

bits 32
pm32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x7c00
    mov esi, msg_prot
    call print
    ; clear the page tables and the IDT, then map the first 2 MiB 1:1
    mov edi, PML4
    mov ecx, (IDT + 0x1000 - PML4) / 4
    xor eax, eax
    rep stosd
    mov dword [PML4], PML4 + 0x1000 + 3
    mov dword [PML4 + 0x1000], PML4 + 0x2000 + 3
    mov dword [PML4 + 0x2000], 0x83
    mov eax, cr4
    or eax, 1 << 5              ; PAE
    mov cr4, eax
    mov eax, PML4
    mov cr3, eax
    mov ecx, 0xc0000080         ; EFER
    rdmsr
    or eax, 1 << 8              ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31             ; paging on: long mode becomes active
    mov cr0, eax
    jmp 0x18:lm64

; Used from protected mode and from long mode: these instructions encode the same in both.
print:
    mov dx, COM1
.next:
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp .next
.done:
    ret

bits 64
lm64:
    mov rsp, 0x7c00             ; the data selectors loaded in protected mode still serve
    mov esi, msg_long
    call print
    ; an interrupt gate for vector 0x20 (IRQ 0 after the PIC remap below)
    mov edi, IDT + 0x20 * 16
    mov eax, timer
    mov [rdi], ax
    mov dword [rdi + 2], 0x8e000018 ; selector 0x18, present 64-bit interrupt gate
    shr eax, 16
    mov [rdi + 6], ax
    lidt [idtr]
    ; the master 8259 PIC at vectors 0x20..0x27 with only IRQ 0 unmasked; the slave stays masked
    mov al, 0x11
    out 0x20, al
    mov al, 0x20
    out 0x21, al
    mov al, 4
    out 0x21, al
    mov al, 1
    out 0x21, al
    mov al, 0xfe
    out 0x21, al
    mov al, 0xff
    out 0xa1, al
    ; PIT channel 0, rate generator, about 100 Hz
    mov al, 0x34
    out 0x43, al
    mov ax, 11932
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
.wait:
    hlt
    cmp byte [ticks], TICKS_WANTED
    jb .wait
    cli
    mov esi, msg_timer
    call print
    mov esi, msg_banner
    call print
.halt:
    hlt
    jmp .halt

timer:
    push rax
    inc byte [ticks]
    mov al, 0x20                ; end of interrupt
    out 0x20, al
    pop rax
    iretq

ticks: db 0

align 8
gdt:
    dq 0
    dq 0x00cf9a000000ffff       ; 0x08: 32-bit code
    dq 0x00cf92000000ffff       ; 0x10: data
    dq 0x00af9a000000ffff       ; 0x18: 64-bit code
gdtr:
    dw gdtr - gdt - 1
    dd gdt
idtr:
    dw 256 * 16 - 1
    dq IDT

msg_real:   db "nbxen-probe real-mode", 10, 0
msg_prot:   db "nbxen-probe protected-mode", 10, 0
msg_long:   db "nbxen-probe long-mode", 10, 0
msg_timer:  db "nbxen-probe timer-interrupt", 10, 0
msg_banner: db "NBXEN-ACCEL-PROBE-OK", 10, 0

times 510 - ($ - $$) db 0
dw 0xaa55
