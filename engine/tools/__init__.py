"""The operator tools: the command line (``venuelink``), the live view and run loop, the simulator
command, the soak, the fault drill, the recorded-frame replay. They import the runtime; the
runtime never imports them."""
