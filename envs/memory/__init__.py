"""Memory environments' data: long, lazily generated streams with planted facts and questions (MemoryAgentBench, MemAgent)."""
