"""Assignment policies, agent presence and capacity."""
