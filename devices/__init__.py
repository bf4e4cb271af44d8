"""Heart-rate device layer: BLE straps and recorded captures as a typed stream.

``devices`` owns everything that touches Bluetooth (bleak is imported lazily, only in
:mod:`devices.ble` and :mod:`devices.replay_backend`). It produces
:class:`devices.records.HrFrame`, :class:`devices.records.LinkEvent` and
:class:`devices.records.RejectedPacket` items; ``biofeedback`` turns them into beats.
"""
