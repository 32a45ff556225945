"""Command groups of the shared core: GS1 codes and EPCIS documents."""
