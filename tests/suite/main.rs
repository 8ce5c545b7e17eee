//! Integration tests: each runs the real `newsletter` binary in a temporary folder (see
//! [`harness`]) and checks its exit status, output and the files it wrote. One module per
//! feature; README.md next to this file explains fixtures and snapshots.

mod bounces;
mod brand;
mod browser;
mod check;
mod cli;
mod corpus;
// Kills `newsletter` with SIGKILL.
#[cfg(unix)]
mod crash;
mod dkim;
// Runs `newsletter` under strace.
#[cfg(target_os = "linux")]
mod durability;
mod fault_server;
mod faults;
mod files;
mod friction;
mod fuzz;
mod harness;
mod hostile_relay;
mod html;
mod images;
mod lint;
mod manifest;
mod message;
mod new;
mod pacing;
mod placeholders;
mod preview;
mod relays;
mod send;
mod serve;
mod smtp_server;
mod snapshots;
mod spam;
mod suppression;
mod token;
mod watch;
mod watch_browser;
mod web;
