// Feature kind "positions": the raw coordinates of the selected atoms, x0 y0 z0 x1 ...
// featurize/featurizeBackward are called by every thread of the work group.

DEVICE void featurize(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL mixed* RESTRICT features) {
    for (int i = LOCAL_ID; i < NUM_FEATURES; i += LOCAL_SIZE)
        features[i] = positions[i];
}

DEVICE void featurizeBackward(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL const mixed* RESTRICT dFeatures, GLOBAL mixed* RESTRICT dPositions) {
    for (int i = LOCAL_ID; i < NUM_FEATURES; i += LOCAL_SIZE)
        dPositions[i] = dFeatures[i];
}
