//! A throwaway PostgreSQL server for tests, started from the system's binaries.
