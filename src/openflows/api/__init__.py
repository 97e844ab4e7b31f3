"""openflows.api"""
