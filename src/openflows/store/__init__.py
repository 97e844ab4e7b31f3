"""openflows.store"""
