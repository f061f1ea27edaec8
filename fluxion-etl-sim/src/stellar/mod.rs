//! The Stellar TDS simulator (see `shared/STELLAR.md` and `shared/TDS_NOTES.md`).
