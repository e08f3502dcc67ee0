"""Built-in suites. Each registers in the "audit.suites" entry-point group like a third-party one."""
