//! The KLK simulator (see `shared/KLK_API.md`).
