"""Experiment files shipped with lowprec (TOML); `lowprec.demo` reads them."""
