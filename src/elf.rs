//! ELF inspection.
