//! Integration tests: each runs the real `newsletter` binary in a temporary folder (see
//! [`harness`]) and checks its exit status, output and the files it wrote. One module per
//! feature; README.md next to this file explains fixtures and snapshots.

mod check;
mod cli;
mod corpus;
mod fuzz;
mod harness;
mod message;
mod preview;
mod snapshots;
