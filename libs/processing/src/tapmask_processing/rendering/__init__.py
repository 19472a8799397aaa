"""Pure rendering core: numpy/OpenCV per frame, no video I/O."""
