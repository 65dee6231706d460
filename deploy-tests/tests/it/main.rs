//! The deploy checks, one integration binary: `image` (Dockerfile and the scripts its stages
//! run), `chart` (charts/tollgate) and `terraform` (terraform/).

mod chart;
mod image;
mod terraform;
