"""openflows.providers"""
