// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IKeyEscrow
/// @notice Keys held threshold-wise (Shamir, SLIP-39: `t` of `n` shares rebuild a secret,
/// fewer reveal nothing), each share encrypted to its holder's published key. Two kinds:
/// - **Backup** of the patient's own record key. The patient splits the private key; the
///   shares are stored on IPFS and this contract keeps who holds share `i` and a commitment
///   to it, so a forged or wrong share is detected before it is combined. Holders are anyone
///   the patient trusts (relatives, their GP, guardians, a second device's address). Shares
///   are released to a new device only under an open recovery request, which only the
///   patient's account opens.
/// - **Emergency**: no key of its own. Each record's *data key* is split among the
///   emergency-care institutions the patient chose (`EMERGENCY_ROLE`, admitted by
///   governance): hospitals put the shares, each encrypted to its institution, in every new
///   record's envelope, and the patient's enrolment puts those of older records in a key
///   object (`keysDigest`). An institution releases its shares of the patient's records to
///   a clinician only while that clinician's break-glass for this patient is open
///   (ConsentManager), so a clinician learns the data keys of records that existed while
///   the access was open and nothing else: no key that opens later records. Every release
///   is an event on the patient's trail.
/// @dev Backup share `i` is committed as `keccak256(abi.encode(patient, kind, epoch, i,
/// salt, share))`, where the 32-byte random `salt` travels encrypted with the share, so the
/// commitment hides the share (an emergency share needs none: the record it opens
/// authenticates the data key it rebuilds). Every new escrow (a re-share) starts a new epoch:
/// shares of earlier epochs are never released through this contract again. Releases are
/// evented, not stored beyond a bit per share and request.
interface IKeyEscrow {
    /// @notice Which key an escrow holds.
    enum Kind {
        Backup, // the patient's record key, for recovery on a new device
        Emergency // the data keys of the patient's records, for break-glass readers
    }

    /// @notice What storage keeps per patient and kind (three slots).
    struct Escrow {
        uint32 epoch; // escrows set up so far for this patient and kind; shares of older epochs are void
        uint8 threshold; // shares needed to rebuild the key (at least 2)
        uint8 holders; // shares issued; 0 when there is no escrow (never set up, or removed)
        uint16 kemId; // Backup: HPKE KEM of the escrowed key pair; Emergency: 0
        bytes32 keyCommitment; // Backup: keccak256(abi.encode(kemId, publicKey)); Emergency: 0
        bytes32 sharesDigest; // Backup: sha2-256 digest of the encrypted shares on IPFS; Emergency: 0
        bytes32 keysDigest; // Emergency: digest of the shares of older records' data keys; Backup: 0
    }

    /// @notice One share of an escrow.
    struct Share {
        address holder; // who holds it (its ciphertext is encrypted to this party's key)
        bytes32 commitment; // see the interface's dev note
    }

    /// @notice A patient's recovery request (at most one open at a time).
    struct Recovery {
        bytes32 requestId; // unique per request
        uint40 expiresAt; // holders release only before this time
        uint32 epoch; // the backup epoch it asks shares of
        bytes32 deviceKeyCommitment; // keccak256(abi.encode(kemId, devicePublicKey))
    }

    /// @notice `patient` set up (or re-shared) an escrow: share `i` is held by `holders[i]`.
    event EscrowCreated(
        address indexed patient,
        Kind indexed kind,
        uint32 epoch,
        uint8 threshold,
        address[] holders,
        bytes32[] commitments,
        uint16 kemId,
        bytes publicKey,
        bytes32 sharesDigest,
        bytes32 keysDigest
    );
    /// @notice `patient` removed an escrow (for Emergency: opted out of emergency escrow).
    event EscrowRemoved(address indexed patient, Kind indexed kind, uint32 epoch);
    /// @notice `patient` asked the holders of its backup for their shares, encrypted to
    /// `devicePublicKey`, until `expiresAt`.
    event RecoveryOpened(
        address indexed patient,
        bytes32 indexed requestId,
        uint32 epoch,
        uint16 kemId,
        bytes devicePublicKey,
        uint40 expiresAt
    );
    /// @notice `patient` ended its recovery request (done, or not asked by them).
    event RecoveryClosed(address indexed patient, bytes32 indexed requestId);
    /// @notice `holder` released share `index` of `patient`'s escrow for `requestId` (a
    /// recovery request, or a break-glass access id), encrypted to its recipient, at
    /// `releaseDigest` on IPFS.
    event ShareReleased(
        address indexed patient,
        Kind indexed kind,
        bytes32 indexed requestId,
        address holder,
        uint8 index,
        uint32 epoch,
        bytes32 releaseDigest
    );
    /// @notice `patient` published the data keys of its records wrapped to its new record key
    /// (after a rotation), at `keysDigest` on IPFS.
    event KeysRewrapped(address indexed patient, bytes32 keysDigest);

    /// @notice A threshold must be at least 2 and at most the number of holders, which is at
    /// most MAX_HOLDERS; every holder needs a commitment.
    error InvalidThreshold(uint256 threshold, uint256 holders, uint256 commitments);
    /// @notice A holder is the zero address, the patient, or listed twice (one holder with
    /// two shares could rebuild the key alone at threshold 2).
    error InvalidHolder(address holder);
    /// @notice A commitment, digest or key is missing (zero or empty).
    error MissingValue(string what);
    /// @notice An emergency escrow has no key, shares object or commitments of its own (the
    /// data keys are split per record): `what` was given anyway.
    error NotForEmergency(string what);
    /// @notice The patient has no escrow of this kind.
    error NoEscrow(address patient, Kind kind);
    /// @notice The caller does not hold share `index` of the patient's current escrow.
    error NotShareHolder(address caller, address patient, uint8 index);
    /// @notice No open recovery request `requestId` (Backup), or no open break-glass access
    /// `requestId` to this patient by a clinician who is still a provider (Emergency).
    error NoOpenRequest(address patient, bytes32 requestId);
    /// @notice This backup share was already released for this request.
    error AlreadyReleased(address patient, bytes32 requestId, uint8 index);
    /// @notice An emergency institution may not release to a break-glass it opened itself:
    /// its own share would count towards the threshold of what it reads.
    error ReleaseToSelf(address institution);
    /// @notice A recovery request lasts from 1 second to MAX_RECOVERY.
    error InvalidDuration(uint256 duration, uint256 max);
    /// @notice A recovery request is open: close it before re-sharing the backup.
    error RecoveryOpen(bytes32 requestId);

    /// @notice Set up (or replace: a re-share) the caller's escrow of `kind`, starting a new
    /// epoch. For Emergency, every holder must hold `EMERGENCY_ROLE`.
    /// @param threshold Shares needed to rebuild (2 to holders.length).
    /// @param holders Share i's holder, distinct, none zero or the caller.
    /// @param commitments Backup: share i's commitment (see the dev note). Emergency: none.
    /// @param kemId Backup: HPKE KEM of the escrowed key pair. Emergency: 0.
    /// @param publicKey Backup: the escrowed key pair's public key (emitted; its commitment
    /// stored). Emergency: empty.
    /// @param sharesDigest Backup: sha2-256 digest of the encrypted shares on IPFS.
    /// Emergency: 0.
    /// @param keysDigest Emergency: digest of the key object holding, per record anchored
    /// before, its data key's shares encrypted to the holders. Backup: 0 (ignored).
    /// @return epoch The new epoch.
    function createEscrow(
        Kind kind,
        uint8 threshold,
        address[] calldata holders,
        bytes32[] calldata commitments,
        uint16 kemId,
        bytes calldata publicKey,
        bytes32 sharesDigest,
        bytes32 keysDigest
    ) external returns (uint32 epoch);

    /// @notice Remove the caller's escrow of `kind` (for Emergency: opt out). Its shares are
    /// never released through this contract again.
    function removeEscrow(Kind kind) external;

    /// @notice As the patient (the caller's account, which is not the lost record key), ask
    /// the holders of the caller's backup for their shares, encrypted to `devicePublicKey`,
    /// for `duration` seconds. Replaces an open request.
    /// @return requestId The request's id.
    function openRecovery(uint16 kemId, bytes calldata devicePublicKey, uint32 duration)
        external
        returns (bytes32 requestId);

    /// @notice End the caller's open recovery request.
    function closeRecovery() external;

    /// @notice As the holder of share `index` of `patient`'s current escrow of `kind`, record
    /// its release for `requestId`: for Backup the patient's open recovery request, for
    /// Emergency an open break-glass access to this patient (and the caller must hold
    /// `EMERGENCY_ROLE` and not be the access's clinician). A backup share is released once
    /// per request; an institution may release again while the access is open (records
    /// anchored since its last release).
    /// @param releaseDigest sha2-256 digest on IPFS of the share encrypted to the recipient
    /// (Emergency: the holder's shares of the data keys of the patient's records, each
    /// encrypted to the clinician).
    function releaseShare(address patient, Kind kind, bytes32 requestId, uint8 index, bytes32 releaseDigest)
        external;

    /// @notice Publish, as the patient, where the data keys of its records wrapped to its
    /// new record key are (after a rotation).
    function recordRewrap(bytes32 keysDigest) external;

    /// @notice The patient's escrow of `kind` (holders is 0 if there is none).
    function getEscrow(address patient, Kind kind) external view returns (Escrow memory);

    /// @notice Share `index` of the patient's escrow of `kind` at `epoch`.
    function getShare(address patient, Kind kind, uint32 epoch, uint8 index) external view returns (Share memory);

    /// @notice The patient's latest recovery request (open if `expiresAt` is in the future).
    function getRecovery(address patient) external view returns (Recovery memory);

    /// @notice Whether share `index` was released for `requestId`.
    function isReleased(address patient, Kind kind, bytes32 requestId, uint8 index) external view returns (bool);

    /// @notice The digest of the patient's latest re-wrapped data keys (0 if none).
    function rewrapOf(address patient) external view returns (bytes32);
}
