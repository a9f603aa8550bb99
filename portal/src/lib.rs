//! cordon-portal.
#![forbid(unsafe_code)]
