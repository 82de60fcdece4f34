export {
  ChecksumEntryMissingError,
  ChecksumMismatchError,
  hashFile,
  parseChecksumFile,
  type ChecksumEntry,
  type ExpectedChecksum,
  type HashAlgorithm,
  type ParsedAlgorithm,
} from "./checksum.ts";
export { DownloadError, MIRROR_HINT } from "./download.ts";
export { acquireLock, LockTimeoutError, type FileLock } from "./lock.ts";
export { LocalArtifactServer, QEMU_USER_NET_HOST, type ServedRequest } from "./server.ts";
export {
  ArtifactStore,
  ArtifactUnavailableError,
  CacheFullError,
  type ArtifactAlternate,
  type ArtifactSpec,
  type ArtifactStoreOptions,
  type CachedArtifact,
  type DownloadProgress,
  type VerifyResult,
} from "./store.ts";
