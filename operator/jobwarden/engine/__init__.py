"""The engine: the store of watched objects, the admission queue, the work queues and
the one small layer (`kube`) through which every plan reaches the API."""
