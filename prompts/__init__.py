"""The LLM answerer's prompt templates, installed as ``assistant.prompts`` (see README.md here)."""
