"""trajotel.collector"""
