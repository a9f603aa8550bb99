//! cordond and the cordon CLI.
#![forbid(unsafe_code)]
