"""The imaging read-out that needs no trained model: atlas location, NCCT expansion signs, midline shift.

`ichkit.anatomy.readout.run_readout` is the entry point; `registration.intracranial` is the one
place that chooses the intracranial mask.
"""
