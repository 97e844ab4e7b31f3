"""openflows.cli"""
