"""trajotel.instrument"""
