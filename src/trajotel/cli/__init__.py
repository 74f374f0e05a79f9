"""trajotel.cli"""
