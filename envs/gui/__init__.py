"""GUI envs: web tasks in a real headless Chromium (a browser pool, BrowserGym actions, MiniWoB++)."""
