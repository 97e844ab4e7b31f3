"""Low-level pieces shared by several layers (DESIGN.md, "Layers"): they import nothing else of OpenFlows, so
every layer that uses them imports downwards."""
