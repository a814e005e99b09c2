"""Readers of the files a workload comes in: network YAML (``yaml_network``), ONNX models
(``onnx_model``: the file and its weights; ``onnx_graph``: one handler per operator) and
SCALE-Sim topology CSVs (``topology_csv``). Each returns a :class:`~accelsim.workload.Network`
(and, for ONNX, its tensors); ``accelsim.workload.load_network`` picks the reader by suffix.
May import the rest of ``accelsim.workload``, errors and files; nothing that simulates.
"""
