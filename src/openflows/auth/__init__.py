"""openflows.auth"""
