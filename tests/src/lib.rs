//! The namespace lab.
#![forbid(unsafe_code)]
