"""Trading domain rules that hold independently of storage or transport (fees, P&L)."""
