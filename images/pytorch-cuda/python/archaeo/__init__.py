"""archaeo: fine-tune, evaluate and apply image classifiers on artefact photographs, with provenance.

Command line: archaeo-train, archaeo-evaluate, archaeo-predict, archaeo-example-data,
archaeo-fetch-weights, archaeo-selftest. Library (used by the starter notebooks): archaeo.train.fit,
archaeo.evaluate.evaluate, archaeo.predict.predict, archaeo.data.describe, archaeo.viz.*,
archaeo.example_data.generate. Heavy imports (torch, matplotlib) happen in the submodules only.
"""

__version__ = "0.1.0"
