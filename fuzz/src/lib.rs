//! Shared by the fuzz targets: the body path every token endpoint takes, and the signers and
//! genuine tokens the token targets start from.

/// Request bodies: the handlers' decoding path and the checks every dialect's target makes.
pub mod body;
/// Token signers of each algorithm, genuine tokens, and what an accepted token must satisfy.
pub mod tokens;
