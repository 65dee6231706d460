//! End-to-end tests of the `tollgate` binary against real config repos and real Git
//! repositories created by the tests.

mod cards;
mod check;
mod git;
mod init;
mod jobs;
mod policy;
mod support;
mod windows;
