"""openflows.engine"""
