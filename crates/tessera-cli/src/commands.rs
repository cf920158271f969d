//! What each `tessera` command does, given its validated flags: one module per command group.

pub mod audit;
pub mod dev;
pub mod health;
pub mod keys;
pub mod login;
pub mod master;
pub mod serve;
pub mod tokens;
pub mod totp;
pub mod users;
