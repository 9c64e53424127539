"""Delivery channels: how a rendered notice leaves the engine (a file, e-mail, a WhatsApp gateway).

``base`` says what a channel is (``DeliveryFailure``, ``Channel``, ``ChannelSet``, ``Options``,
``ChannelSpec``); ``file``, ``smtp`` and ``webhook`` are the channels, each declaring its name, the
address it sends to and its settings; ``registry`` lists them. See ``docs/channels.md``.
"""
