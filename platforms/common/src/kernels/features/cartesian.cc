// Feature kind "cartesian": the positions rigidly fitted onto the bundle's reference structure, as
// NativeFeatureMap defines them: y_a = R (p_a - centre of p) + centre of the reference, where the
// proper rotation R minimises sum_a |R p_a - q_a|^2 (p, q centred). NativeFeatureMap finds R from the
// SVD of M = sum_a p_a q_a^T; here it is the same rotation from the quaternion of largest eigenvalue
// of Horn's 4x4 key matrix of M (a Jacobi eigen-solve in one thread), which is a proper rotation
// also where the best fit of the SVD needs the reflection fix-up. The gradient includes the
// rotation's dependence on the positions, as NativeFeatureMap::backwardCartesian derives it.
// featurize/featurizeBackward are called by every thread of the work group.
//
// featureMapData (CommonVAEFeatureMapData): CARTESIAN_REFERENCE, the centred reference [3 n];
// CARTESIAN_REFERENCE_CENTER (3); then what thread 0 writes for the other threads and for the
// backward pass: CARTESIAN_ROTATION (R, row-major), CARTESIAN_CENTER (centre of p),
// CARTESIAN_FIT (S = R^T M^T, symmetric at the optimum), CARTESIAN_ADJOINT (N^T, row-major, and
// R^T times the mean of dE/dy).

#if defined(USE_DOUBLE_PRECISION) || defined(USE_MIXED_PRECISION)
#define CARTESIAN_EPSILON 2.2e-16
#else
#define CARTESIAN_EPSILON 1.2e-7f
#endif

/**
 * The eigenvector of the largest eigenvalue of the symmetric 4x4 matrix a (overwritten), by cyclic
 * Jacobi rotations until no off-diagonal element exceeds a few rounding errors of the diagonal.
 */
DEVICE void cartesianLargestEigenvector(mixed a[4][4], mixed vector[4]) {
    mixed v[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++)
            v[i][j] = (i == j ? 1 : 0);
    for (int sweep = 0; sweep < 32; sweep++) {
        mixed largestDiagonal = 0;
        for (int i = 0; i < 4; i++)
            largestDiagonal = fmax(largestDiagonal, fabs(a[i][i]));
        const mixed threshold = 4*CARTESIAN_EPSILON*largestDiagonal;
        bool rotated = false;
        for (int p = 0; p < 3; p++)
            for (int q = p+1; q < 4; q++) {
                const mixed apq = a[p][q];
                if (!(fabs(apq) > threshold))
                    continue;
                rotated = true;
                // The rotation in the (p, q) plane that zeroes a[p][q]: a <- J^T a J, v <- v J.
                mixed theta = (a[q][q]-a[p][p])/(2*apq);
                mixed t = (theta >= 0 ? 1 : -1)/(fabs(theta)+sqrt(theta*theta+1));
                mixed c = 1/sqrt(t*t+1), s = t*c;
                for (int k = 0; k < 4; k++) {
                    mixed akp = a[k][p], akq = a[k][q];
                    a[k][p] = c*akp-s*akq;
                    a[k][q] = s*akp+c*akq;
                }
                for (int k = 0; k < 4; k++) {
                    mixed apk = a[p][k], aqk = a[q][k];
                    a[p][k] = c*apk-s*aqk;
                    a[q][k] = s*apk+c*aqk;
                }
                for (int k = 0; k < 4; k++) {
                    mixed vkp = v[k][p], vkq = v[k][q];
                    v[k][p] = c*vkp-s*vkq;
                    v[k][q] = s*vkp+c*vkq;
                }
            }
        if (!rotated)
            break;
    }
    int largest = 0;
    for (int i = 1; i < 4; i++)
        if (a[i][i] > a[largest][largest])
            largest = i;
    for (int i = 0; i < 4; i++)
        vector[i] = v[i][largest];
}

DEVICE void featurize(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL mixed* RESTRICT features) {
    GLOBAL const mixed* reference = featureMapData+CARTESIAN_REFERENCE;
    GLOBAL mixed* rotation = featureMapData+CARTESIAN_ROTATION;
    GLOBAL mixed* center = featureMapData+CARTESIAN_CENTER;
    if (LOCAL_ID == 0) {
        mixed3 c = make_mixed3(0, 0, 0);
        for (int i = 0; i < NUM_ATOMS; i++)
            c += make_mixed3(positions[3*i], positions[3*i+1], positions[3*i+2]);
        c = c/(mixed) NUM_ATOMS;
        mixed m[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        for (int i = 0; i < NUM_ATOMS; i++) {
            mixed p[3] = {positions[3*i]-c.x, positions[3*i+1]-c.y, positions[3*i+2]-c.z};
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                    m[j][k] += p[j]*reference[3*i+k];
        }
        // Horn (1987): R p . q summed is largest for the unit quaternion of the key matrix's largest eigenvalue.
        mixed key[4][4] = {
            {m[0][0]+m[1][1]+m[2][2], m[1][2]-m[2][1], m[2][0]-m[0][2], m[0][1]-m[1][0]},
            {m[1][2]-m[2][1], m[0][0]-m[1][1]-m[2][2], m[0][1]+m[1][0], m[2][0]+m[0][2]},
            {m[2][0]-m[0][2], m[0][1]+m[1][0], -m[0][0]+m[1][1]-m[2][2], m[1][2]+m[2][1]},
            {m[0][1]-m[1][0], m[2][0]+m[0][2], m[1][2]+m[2][1], -m[0][0]-m[1][1]+m[2][2]}};
        mixed quaternion[4];
        cartesianLargestEigenvector(key, quaternion);
        mixed norm = sqrt(quaternion[0]*quaternion[0]+quaternion[1]*quaternion[1]+quaternion[2]*quaternion[2]+quaternion[3]*quaternion[3]);
        mixed w = quaternion[0]/norm, x = quaternion[1]/norm, y = quaternion[2]/norm, z = quaternion[3]/norm;
        mixed r[3][3] = {{w*w+x*x-y*y-z*z, 2*(x*y-w*z), 2*(x*z+w*y)},
                         {2*(x*y+w*z), w*w-x*x+y*y-z*z, 2*(y*z-w*x)},
                         {2*(x*z-w*y), 2*(y*z+w*x), w*w-x*x-y*y+z*z}};
        // S = R^T M^T, symmetric at the optimum (its rounding removed), for the backward pass.
        mixed s[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                s[i][j] = r[0][i]*m[j][0]+r[1][i]*m[j][1]+r[2][i]*m[j][2];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                rotation[3*i+j] = r[i][j];
                featureMapData[CARTESIAN_FIT+3*i+j] = (s[i][j]+s[j][i])/2;
            }
        center[0] = c.x;
        center[1] = c.y;
        center[2] = c.z;
    }
    SYNC_THREADS;
    GLOBAL const mixed* referenceCenter = featureMapData+CARTESIAN_REFERENCE_CENTER;
    for (int i = LOCAL_ID; i < NUM_ATOMS; i += LOCAL_SIZE) {
        mixed p[3] = {positions[3*i]-center[0], positions[3*i+1]-center[1], positions[3*i+2]-center[2]};
        for (int j = 0; j < 3; j++)
            features[3*i+j] = rotation[3*j]*p[0]+rotation[3*j+1]*p[1]+rotation[3*j+2]*p[2]+referenceCenter[j];
    }
}

// With h_a = R^T g_a and B = sum_a p_a h_a^T, dE/dp_a = h_a + N^T q_a with N = 2 R C, where C solves
// C S + S C = K = (B^T - B)/2 (NativeFeatureMap::backwardCartesian), less the mean over atoms
// (centring). For antisymmetric C = [c]x and symmetric S, C S + S C = [(tr S - S) c]x, so c is one
// 3x3 solve with K = [k]x. The mean of N^T q_a is 0 (q centred), so dE/dp_a = R^T (g_a - mean g) + N^T q_a.
DEVICE void featurizeBackward(GLOBAL const mixed* RESTRICT positions, GLOBAL const int* RESTRICT featureMapIndices, GLOBAL mixed* RESTRICT featureMapData,
        GLOBAL const mixed* RESTRICT dFeatures, GLOBAL mixed* RESTRICT dPositions) {
    GLOBAL const mixed* reference = featureMapData+CARTESIAN_REFERENCE;
    GLOBAL const mixed* rotation = featureMapData+CARTESIAN_ROTATION;
    GLOBAL mixed* adjoint = featureMapData+CARTESIAN_ADJOINT;
    if (LOCAL_ID == 0) {
        GLOBAL const mixed* center = featureMapData+CARTESIAN_CENTER;
        GLOBAL const mixed* s = featureMapData+CARTESIAN_FIT;
        mixed meanGradient[3] = {0, 0, 0};
        mixed b[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
        for (int i = 0; i < NUM_ATOMS; i++) {
            mixed p[3] = {positions[3*i]-center[0], positions[3*i+1]-center[1], positions[3*i+2]-center[2]};
            mixed h[3];
            for (int j = 0; j < 3; j++) {
                h[j] = rotation[j]*dFeatures[3*i]+rotation[3+j]*dFeatures[3*i+1]+rotation[6+j]*dFeatures[3*i+2];
                meanGradient[j] += dFeatures[3*i+j];
            }
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                    b[j][k] += p[j]*h[k];
        }
        // k of K = [k]x, K = (B^T - B)/2; c = (tr S - S)^-1 k by cofactors (T is symmetric).
        mixed k[3] = {(b[1][2]-b[2][1])/2, (b[2][0]-b[0][2])/2, (b[0][1]-b[1][0])/2};
        mixed trace = s[0]+s[4]+s[8];
        mixed t[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                t[i][j] = (i == j ? trace : 0)-s[3*i+j];
        mixed cofactor[3][3];
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                cofactor[i][j] = t[(i+1)%3][(j+1)%3]*t[(i+2)%3][(j+2)%3]-t[(i+1)%3][(j+2)%3]*t[(i+2)%3][(j+1)%3];
        mixed determinant = t[0][0]*cofactor[0][0]+t[0][1]*cofactor[0][1]+t[0][2]*cofactor[0][2];
        mixed c[3];
        for (int i = 0; i < 3; i++)
            c[i] = (cofactor[0][i]*k[0]+cofactor[1][i]*k[1]+cofactor[2][i]*k[2])/determinant;
        mixed skew[3][3] = {{0, -c[2], c[1]}, {c[2], 0, -c[0]}, {-c[1], c[0], 0}};  // C = [c]x
        // N^T = 2 C^T R^T, row-major.
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                adjoint[3*i+j] = 2*(skew[0][i]*rotation[3*j]+skew[1][i]*rotation[3*j+1]+skew[2][i]*rotation[3*j+2]);
        for (int j = 0; j < 3; j++)
            adjoint[9+j] = (rotation[j]*meanGradient[0]+rotation[3+j]*meanGradient[1]+rotation[6+j]*meanGradient[2])/NUM_ATOMS;
    }
    SYNC_THREADS;
    for (int i = LOCAL_ID; i < NUM_ATOMS; i += LOCAL_SIZE)
        for (int j = 0; j < 3; j++)
            dPositions[3*i+j] = rotation[j]*dFeatures[3*i]+rotation[3+j]*dFeatures[3*i+1]+rotation[6+j]*dFeatures[3*i+2]-adjoint[9+j]
                                +adjoint[3*j]*reference[3*i]+adjoint[3*j+1]*reference[3*i+1]+adjoint[3*j+2]*reference[3*i+2];
}
