"""trajotel.store"""
