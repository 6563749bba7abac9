"""`make chaos`: scripted, bounded faults on an isolated local stack, each under sustained load.

One run starts its own broker, Flink cluster and gateway on other ports (``stack``), submits the
feedback job, and runs each scenario in turn: a load client sends simulated sessions through the
gateway and remembers which event_ids were acknowledged (``load``), a fault is injected and cleared
(``faults``), and at the end every sink is read back to check that each acknowledged event is there
exactly once (``verify``). ``runner`` ties them together and prints the table.
"""
