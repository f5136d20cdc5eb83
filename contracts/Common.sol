// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Shared constants and errors of carechain
/// @notice Role identifiers and errors used by more than one carechain contract.

/// @dev Hospitals and other care providers: they anchor records.
bytes32 constant PROVIDER_ROLE = keccak256("carechain.role.provider");
/// @dev Insurers: they hold policies and settle claims.
bytes32 constant INSURER_ROLE = keccak256("carechain.role.insurer");
/// @dev Auditors: they review break-glass access and read the audit trail.
bytes32 constant AUDITOR_ROLE = keccak256("carechain.role.auditor");

/// @notice An address argument was the zero address.
/// @param what The name of the argument.
error ZeroAddress(string what);

/// @dev Arbitrators resolve disputed claim denials.
bytes32 constant ARBITRATOR_ROLE = keccak256("carechain.role.arbitrator");

/// @dev Medicine and device manufacturers: they register batches and devices.
bytes32 constant MANUFACTURER_ROLE = keccak256("carechain.role.manufacturer");
/// @dev Wholesale distributors: they hold and ship medicines.
bytes32 constant DISTRIBUTOR_ROLE = keccak256("carechain.role.distributor");
/// @dev Pharmacies: they hold and dispense medicines.
bytes32 constant PHARMACY_ROLE = keccak256("carechain.role.pharmacy");
/// @dev Regulators: they recall batches and decommission devices.
bytes32 constant REGULATOR_ROLE = keccak256("carechain.role.regulator");

/// @dev Emergency-care institutions chosen by governance: they hold shares of patients'
/// emergency keys and release them only while a break-glass for that patient is open.
bytes32 constant EMERGENCY_ROLE = keccak256("carechain.role.emergency");

/// @dev Clinical-trial sponsors chosen by governance: they register trials (protocol and
/// outcomes fixed before enrolment), read under participants' research consent, post results
/// and fund participants' rewards (ClinicalTrials).
bytes32 constant SPONSOR_ROLE = keccak256("carechain.role.sponsor");
