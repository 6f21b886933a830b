// The CV of a VAECVForce (a trainer bundle's encoder mean) and its bias, evaluated by one work
// group of WORK_GROUP_SIZE threads: gather the selected atoms' positions, featurise (the device
// functions featurize/featurizeBackward of the bundle's feature kind, prepended from
// kernels/features/<kind>.cc, with what that kind reads in featureMapIndices and featureMapData:
// CommonVAEFeatureMapData), standardise, (cos, sin) of periodic features, the MLP
// hidden1 -> ReLU -> hidden2 -> ReLU -> mean head, the bias E(z), and the backward pass to forces.
// One work group and one launch per step: the network is small, so launches and host round trips,
// not arithmetic, would dominate.
//
// Compile-time sizes: NUM_ATOMS, NUM_FEATURES, NUM_NONPERIODIC, NUM_PERIODIC, NUM_INPUTS, HIDDEN1,
// HIDDEN2, LATENT, WORK_GROUP_SIZE (a power of 2), MIN_THREADS_PER_OUTPUT (a power of 2, at most
// WORK_GROUP_SIZE), PADDED_NUM_ATOMS; offsets into the arrays
// (network: W1T W1 B1 W2T W2 B2 W3T W3 B3; work: INPUT PRE1 PRE2 DEDZ GRAD2 GRAD1 GRADIN;
// featureWork: POSITIONS FEATURES STANDARDIZED DFEATURES DPOSITIONS). Modes: COMPONENT_MODE, or
// GRID_BIAS with GRID_SIZES and GRID_PERIODIC (brace lists, one entry per latent dimension) and
// offsets GRID_MINS GRID_MAXS GRID_SPACING GRID_WALL GRID_VALUES into the bias parameters, else the
// harmonic restraint; WHOLE_MOLECULE in a periodic System.

/**
 * out[o] = bias[o] + sum_i w[i*numOut+o] * x_i for o < numOut, where x_i = in[i], or 0 where a gate
 * is given and gate[i] <= 0 (ReLU: forward with gate = in; backward with gate = the preactivation).
 * w is stored input-major so neighbouring threads read neighbouring weights. Each output gets a
 * group of T threads (a power of 2, at least MIN_THREADS_PER_OUTPUT, more for narrow layers) whose
 * partial sums are reduced in local memory.
 * Every thread of the work group must call it; it ends with a barrier.
 */
DEVICE void denseLayer(GLOBAL const real* RESTRICT w, GLOBAL const real* RESTRICT bias, GLOBAL const real* RESTRICT in,
        GLOBAL const real* RESTRICT gate, GLOBAL real* RESTRICT out, int numIn, int numOut, LOCAL_ARG real* RESTRICT partial) {
    int threadsPerOutput = MIN_THREADS_PER_OUTPUT;
    while (2*threadsPerOutput*numOut <= WORK_GROUP_SIZE)
        threadsPerOutput *= 2;
    const int lane = LOCAL_ID%threadsPerOutput;
    const int outputsPerPass = WORK_GROUP_SIZE/threadsPerOutput;
    for (int base = 0; base < numOut; base += outputsPerPass) {
        const int o = base + LOCAL_ID/threadsPerOutput;
        real sum = 0;
        if (o < numOut)
            for (int i = lane; i < numIn; i += threadsPerOutput) {
                real x = in[i];
                if (gate != 0 && !(gate[i] > 0))
                    x = 0;
                sum += w[i*numOut+o]*x;
            }
        if (threadsPerOutput > 1) {
            partial[LOCAL_ID] = sum;
            SYNC_THREADS;
            for (int stride = threadsPerOutput/2; stride > 0; stride /= 2) {
                if (lane < stride)
                    partial[LOCAL_ID] += partial[LOCAL_ID+stride];
                SYNC_THREADS;
            }
            sum = partial[LOCAL_ID];
        }
        if (lane == 0 && o < numOut)
            out[o] = sum + (bias != 0 ? bias[o] : 0);
    }
    SYNC_THREADS;
}

#ifdef GRID_BIAS
/**
 * V(z) and dV/dz of a LatentGrid, restating LatentGrid::evaluate (openmmapi/src/LatentGrid.cpp,
 * where the interpolant is defined; the platform tests compare the two): per dimension the
 * Catmull-Rom weights of the four points around z's cell, a point beyond a non-periodic end
 * replaced by the linear extrapolation 2 f_end - f_next (so up to 6 entries), periodic indices
 * wrapped, z clamped to a non-periodic dimension's range with a harmonic wall beyond it; then the
 * tensor product over the dimensions, in the host's order. parameters = [mins, maxs, spacings,
 * wall force constant, values (row-major)]. One thread evaluates it.
 */
DEVICE mixed gridBias(GLOBAL const real* RESTRICT z, GLOBAL const mixed* RESTRICT parameters, GLOBAL real* RESTRICT dEdz) {
    const int size[LATENT] = GRID_SIZES;
    const int periodic[LATENT] = GRID_PERIODIC;
    const mixed wallForceConstant = parameters[GRID_WALL];
    int count[LATENT], node[LATENT][6], stride[LATENT], entry[LATENT];
    mixed weight[LATENT][6], derivative[LATENT][6], wallGradient[LATENT], gradient[LATENT];
    bool clamped[LATENT];
    mixed wall = 0;
    for (int d = LATENT-1; d >= 0; d--)
        stride[d] = (d == LATENT-1 ? 1 : stride[d+1]*size[d+1]);
    for (int d = 0; d < LATENT; d++) {
        const int n = size[d];
        const mixed lower = parameters[GRID_MINS+d], upper = parameters[GRID_MAXS+d], h = parameters[GRID_SPACING+d];
        mixed zd = z[d], u;
        wallGradient[d] = 0;
        entry[d] = 0;
        gradient[d] = 0;
        clamped[d] = false;
        if (periodic[d]) {
            u = (zd-lower)/h;
            u -= n*floor(u/n);
        }
        else {
            mixed zc = (zd < lower ? lower : (zd > upper ? upper : zd));
            if (zc != zd) {
                mixed delta = zd-zc;
                wall += 0.5f*wallForceConstant*delta*delta;
                wallGradient[d] = wallForceConstant*delta;
                clamped[d] = true;
            }
            u = (zc-lower)/h;
        }
        int i = (int) floor(u);
        if (i > n-(periodic[d] ? 1 : 2))
            i = n-(periodic[d] ? 1 : 2);
        const mixed t = u-i, t2 = t*t, t3 = t2*t;
        const mixed w[4] = {0.5f*(-t3+2*t2-t), 0.5f*(3*t3-5*t2+2), 0.5f*(-3*t3+4*t2+t), 0.5f*(t3-t2)};
        const mixed dw[4] = {0.5f*(-3*t2+4*t-1)/h, 0.5f*(9*t2-10*t)/h, 0.5f*(-9*t2+8*t+1)/h, 0.5f*(3*t2-2*t)/h};
        int c = 0;
        for (int a = 0; a < 4; a++) {
            int m = i-1+a;
            if (periodic[d]) {
                node[d][c] = ((m%n)+n)%n;
                weight[d][c] = w[a];
                derivative[d][c++] = dw[a];
            }
            else if (m < 0 || m >= n) {
                const int end = (m < 0 ? 0 : n-1), next = (m < 0 ? 1 : n-2);
                node[d][c] = end;
                weight[d][c] = 2*w[a];
                derivative[d][c++] = 2*dw[a];
                node[d][c] = next;
                weight[d][c] = -w[a];
                derivative[d][c++] = -dw[a];
            }
            else {
                node[d][c] = m;
                weight[d][c] = w[a];
                derivative[d][c++] = dw[a];
            }
        }
        count[d] = c;
    }
    GLOBAL const mixed* values = parameters+GRID_VALUES;
    mixed value = 0;
    while (true) {
        int index = 0;
        for (int d = 0; d < LATENT; d++)
            index += node[d][entry[d]]*stride[d];
        const mixed f = values[index];
        mixed product = f;
        for (int d = 0; d < LATENT; d++)
            product *= weight[d][entry[d]];
        value += product;
        for (int d = 0; d < LATENT; d++) {
            mixed g = f*derivative[d][entry[d]];
            for (int e = 0; e < LATENT; e++)
                if (e != d)
                    g *= weight[e][entry[e]];
            gradient[d] += g;
        }
        int d = LATENT-1;
        while (d >= 0 && ++entry[d] == count[d])
            entry[d--] = 0;
        if (d < 0)
            break;
    }
    for (int d = 0; d < LATENT; d++)
        dEdz[d] = (real) ((clamped[d] ? 0 : gradient[d])+wallGradient[d]);
    return value+wall;
}
#endif

/**
 * The bias energy E(z) and dE/dz, mirroring LatentBias::compute (openmmapi/src/LatentBias.cpp):
 * the component z_k (COMPONENT_MODE), the grid bias (GRID_BIAS, above), or the harmonic restraint
 * sum_k 0.5 kappa_k (z_k - c_k)^2 with parameters = [c_0..c_{L-1}, kappa_0..kappa_{L-1}]. The
 * platform tests compare each.
 */
DEVICE mixed latentBias(GLOBAL const real* RESTRICT z, GLOBAL const mixed* RESTRICT parameters, int component, GLOBAL real* RESTRICT dEdz) {
#if defined(COMPONENT_MODE)
    for (int k = 0; k < LATENT; k++)
        dEdz[k] = (k == component ? 1 : 0);
    return z[component];
#elif defined(GRID_BIAS)
    return gridBias(z, parameters, dEdz);
#else
    mixed energy = 0;
    for (int k = 0; k < LATENT; k++) {
        mixed delta = z[k]-parameters[k];
        mixed kappa = parameters[LATENT+k];
        energy += 0.5f*kappa*delta*delta;
        dEdz[k] = (real) (kappa*delta);
    }
    return energy;
#endif
}

#ifdef WHOLE_MOLECULE
/**
 * The selected atoms made whole in a periodic System, restating makeMoleculeWhole
 * (openmmapi/include/internal/WholeMolecule.h, where the rule is defined): atom 0 as the user set
 * it; each later atom shifted by whole box vectors to the image nearest to the (already shifted)
 * atom before it, c first, then b, then a (OpenMM's reduced triclinic box). One thread chains the atoms.
 */
DEVICE void makeMoleculeWhole(GLOBAL mixed* RESTRICT positions, mixed4 boxA, mixed4 boxB, mixed4 boxC) {
    for (int i = 1; i < NUM_ATOMS; i++) {
        GLOBAL const mixed* previous = positions+3*(i-1);
        GLOBAL mixed* atom = positions+3*i;
        mixed dx = atom[0]-previous[0], dy = atom[1]-previous[1], dz = atom[2]-previous[2];
        mixed nc = round(dz/boxC.z);
        mixed sx = boxC.x*nc, sy = boxC.y*nc, sz = boxC.z*nc;
        mixed nb = round((dy-sy)/boxB.y);
        sx += boxB.x*nb;
        sy += boxB.y*nb;
        sz += boxB.z*nb;
        mixed na = round((dx-sx)/boxA.x);
        sx += boxA.x*na;
        sy += boxA.y*na;
        sz += boxA.z*na;
        atom[0] -= sx;
        atom[1] -= sy;
        atom[2] -= sz;
    }
}
#endif

/**
 * stage 0: z only (written to latent); 1: also add E to the energy buffer; 2: also add the forces.
 * deviceIndex[i]: where the i-th selected atom is stored now (atoms are reordered); cellShift:
 * what turns its stored (wrapped) position into the position the user set, 3 per atom; box*: the
 * current periodic box vectors (read only with WHOLE_MOLECULE).
 */
KERNEL void computeVAECV(GLOBAL const real4* RESTRICT posq,
#ifdef USE_MIXED_PRECISION
        GLOBAL const real4* RESTRICT posqCorrection,
#endif
        GLOBAL const int* RESTRICT deviceIndex, GLOBAL const mixed* RESTRICT cellShift, GLOBAL const real* RESTRICT network,
        GLOBAL const mixed* RESTRICT standardization, GLOBAL const int* RESTRICT inputSlot, GLOBAL const mixed* RESTRICT biasParameters,
        GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        int component, int stage, GLOBAL real* RESTRICT work, GLOBAL mixed* RESTRICT featureWork, GLOBAL real* RESTRICT latent,
#ifdef USE_LONG_FORCES
        GLOBAL mm_long* RESTRICT forceBuffer,
#else
        GLOBAL real4* RESTRICT forceBuffer,
#endif
        GLOBAL mixed* RESTRICT energyBuffer, mixed4 boxA, mixed4 boxB, mixed4 boxC) {
    LOCAL real partial[WORK_GROUP_SIZE];
    GLOBAL mixed* positions = featureWork+POSITIONS;
    GLOBAL mixed* features = featureWork+FEATURES;
    GLOBAL mixed* standardized = featureWork+STANDARDIZED;
    GLOBAL real* input = work+INPUT;
    GLOBAL const mixed* mean = standardization;
    GLOBAL const mixed* scale = standardization+NUM_FEATURES;

    // Positions of the selected atoms as the user set them.
    for (int i = LOCAL_ID; i < NUM_ATOMS; i += WORK_GROUP_SIZE) {
        int j = deviceIndex[i];
        real4 p = posq[j];
        mixed x = p.x, y = p.y, z = p.z;
#ifdef USE_MIXED_PRECISION
        real4 c = posqCorrection[j];
        x += c.x;
        y += c.y;
        z += c.z;
#endif
        positions[3*i] = x+cellShift[3*i];
        positions[3*i+1] = y+cellShift[3*i+1];
        positions[3*i+2] = z+cellShift[3*i+2];
    }
    SYNC_THREADS;
#ifdef WHOLE_MOLECULE
    if (LOCAL_ID == 0)
        makeMoleculeWhole(positions, boxA, boxB, boxC);
    SYNC_THREADS;
#endif
    featurize(positions, featureMapIndices, featureMapData, features);
    SYNC_THREADS;

    // Standardise; periodic features enter the encoder as cos after the others, then sin.
    for (int f = LOCAL_ID; f < NUM_FEATURES; f += WORK_GROUP_SIZE) {
        mixed s = (features[f]-mean[f])/scale[f];
        standardized[f] = s;
        int slot = inputSlot[f];
        if (slot < NUM_NONPERIODIC)
            input[slot] = (real) s;
        else {
            input[slot] = (real) cos(s);
            input[slot+NUM_PERIODIC] = (real) sin(s);
        }
    }
    SYNC_THREADS;

    // Encoder mean: ReLU of a layer's preactivation is applied where the next layer reads it.
    denseLayer(network+W1T, network+B1, input, 0, work+PRE1, NUM_INPUTS, HIDDEN1, partial);
    denseLayer(network+W2T, network+B2, work+PRE1, work+PRE1, work+PRE2, HIDDEN1, HIDDEN2, partial);
    denseLayer(network+W3T, network+B3, work+PRE2, work+PRE2, latent, HIDDEN2, LATENT, partial);
    if (stage == 0)
        return;
    if (LOCAL_ID == 0)
        energyBuffer[0] += latentBias(latent, biasParameters, component, work+DEDZ);
    SYNC_THREADS;
    if (stage == 1)
        return;

    // Backward: through the layers (the transposed products use the output-major copies), ...
    denseLayer(network+W3, 0, work+DEDZ, 0, work+GRAD2, LATENT, HIDDEN2, partial);
    denseLayer(network+W2, 0, work+GRAD2, work+PRE2, work+GRAD1, HIDDEN2, HIDDEN1, partial);
    denseLayer(network+W1, 0, work+GRAD1, work+PRE1, work+GRADIN, HIDDEN1, NUM_INPUTS, partial);
    // ... (cos, sin) and the standardisation, ...
    GLOBAL mixed* dFeatures = featureWork+DFEATURES;
    GLOBAL mixed* dPositions = featureWork+DPOSITIONS;
    GLOBAL const real* gradIn = work+GRADIN;
    for (int f = LOCAL_ID; f < NUM_FEATURES; f += WORK_GROUP_SIZE) {
        int slot = inputSlot[f];
        mixed g;
        if (slot < NUM_NONPERIODIC)
            g = gradIn[slot];
        else {
            mixed s = standardized[f];
            g = -sin(s)*gradIn[slot] + cos(s)*gradIn[slot+NUM_PERIODIC];
        }
        dFeatures[f] = g/scale[f];
    }
    SYNC_THREADS;
    // ... and the featurisation, to forces on the stored atoms.
    featurizeBackward(positions, featureMapIndices, featureMapData, dFeatures, dPositions);
    SYNC_THREADS;
    for (int i = LOCAL_ID; i < NUM_ATOMS; i += WORK_GROUP_SIZE) {
        int j = deviceIndex[i];
        real fx = (real) -dPositions[3*i], fy = (real) -dPositions[3*i+1], fz = (real) -dPositions[3*i+2];
#ifdef USE_LONG_FORCES
        forceBuffer[j] += (mm_long) (fx*0x100000000);
        forceBuffer[j+PADDED_NUM_ATOMS] += (mm_long) (fy*0x100000000);
        forceBuffer[j+2*PADDED_NUM_ATOMS] += (mm_long) (fz*0x100000000);
#else
        forceBuffer[j].x += fx;
        forceBuffer[j].y += fy;
        forceBuffer[j].z += fz;
#endif
    }
}
