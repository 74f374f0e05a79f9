"""trajotel.normalize"""
