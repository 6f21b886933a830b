// The feature maps of the bundle (design.md "Feature kinds") as TorchScript, and the members they read.
#include "FeatureMaps.h"

#include <stdexcept>
#include <string>

namespace VAEPlugin {

namespace {

using namespace BundleSchema;

const char* kCheckSource = R"TS(
def check_positions(self, positions: Tensor):
    assert positions.dim() == 3 and positions.size(1) == self.num_atoms and positions.size(2) == 3, "VAE bundle: expected positions of shape [B, " + str(self.num_atoms) + ", 3], got " + str(positions.size())
)TS";

const char* kXYSource = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    features = positions[:, 0, 0:2]
    return features, torch.zeros([positions.size(0)], dtype=positions.dtype, device=positions.device)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    out = reference.clone()
    out[:, 0, 0] = features[:, 0]
    out[:, 0, 1] = features[:, 1]
    return out
)TS";

const char* kPolarSource = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    x = positions[:, 0, 0]
    y = positions[:, 0, 1]
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan2(y, x)
    return torch.stack([r, theta], 1), torch.log(r)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    out = reference.clone()
    r = features[:, 0]
    theta = features[:, 1]
    out[:, 0, 0] = r * torch.cos(theta)
    out[:, 0, 1] = r * torch.sin(theta)
    return out
)TS";

// positions and cartesian: the features are coordinates [x0, y0, z0, x1, ...] (ln J = 0), and positions
// come back from them as they are; each kind's featurize ends with this.
const char* kCoordinateFeaturesTail = R"TS(    return features, torch.zeros([positions.size(0)], dtype=positions.dtype, device=positions.device)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    return features.reshape([features.size(0), self.num_atoms, 3]).to(reference.dtype)
)TS";

const char* kPositionsHead = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    features = positions.reshape([positions.size(0), 3 * self.num_atoms])
)TS";

// Kabsch fit onto the reference buffer (centred; proper rotation via the determinant sign).
const char* kCartesianHead = R"TS(
def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    reference = self.reference.to(positions.dtype)
    reference_center = torch.mean(reference, 0)
    x = positions - torch.mean(positions, 1, keepdim=True)
    covariance = torch.matmul(x.transpose(1, 2), reference - reference_center)
    u, s, vh = torch.linalg_svd(covariance, False)
    v = vh.transpose(1, 2)
    sign = torch.where(torch.det(torch.matmul(v, u.transpose(1, 2))) < 0, -torch.ones_like(s[:, 0]), torch.ones_like(s[:, 0]))
    v = torch.cat([v[:, :, 0:2], v[:, :, 2:3] * sign.reshape([-1, 1, 1])], 2)
    rotation = torch.matmul(v, u.transpose(1, 2))
    aligned = torch.matmul(x, rotation.transpose(1, 2)) + reference_center
    features = aligned.reshape([positions.size(0), 3 * self.num_atoms])
)TS";

// Bond-angle-torsion coordinates over the tree of BatTree (BatTree.h).
const char* kBatSource = R"TS(
def bat_index(self, index: List[int], device: Device) -> Tensor:
    return torch.tensor(index, device=device)

def bat_norm(self, v: Tensor) -> Tensor:
    return torch.sqrt(torch.sum(v * v, -1))

def bat_angle(self, a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    u = a - b
    w = c - b
    return torch.atan2(self.bat_norm(torch.cross(u, w, dim=-1)), torch.sum(u * w, -1))

def bat_dihedral(self, a: Tensor, b: Tensor, c: Tensor, d: Tensor) -> Tensor:
    b1 = b - a
    b2 = c - b
    b3 = d - c
    n1 = torch.cross(b1, b2, dim=-1)
    n2 = torch.cross(b2, b3, dim=-1)
    return torch.atan2(torch.sum(b1 * n2, -1) * self.bat_norm(b2), torch.sum(n1 * n2, -1))

def bat_wrap(self, angle: Tensor) -> Tensor:
    return torch.remainder(angle + 3.141592653589793, 6.283185307179586) - 3.141592653589793

def featurize(self, positions: Tensor) -> Tuple[Tensor, Tensor]:
    self.check_positions(positions)
    device = positions.device
    r0 = positions[:, self.bat_root[0]]
    r1 = positions[:, self.bat_root[1]]
    r2 = positions[:, self.bat_root[2]]
    root_bonds = torch.stack([self.bat_norm(r1 - r0), self.bat_norm(r2 - r1)], 1)
    root_angle = self.bat_angle(r0, r1, r2).unsqueeze(1)
    pi = positions.index_select(1, self.bat_index(self.bat_i, device))
    pj = positions.index_select(1, self.bat_index(self.bat_j, device))
    pk = positions.index_select(1, self.bat_index(self.bat_k, device))
    pl = positions.index_select(1, self.bat_index(self.bat_l, device))
    bonds = self.bat_norm(pi - pj).index_select(1, self.bat_index(self.bat_free_rows, device))
    angles = self.bat_angle(pi, pj, pk)
    torsions = self.bat_dihedral(pi, pj, pk, pl)
    offsets = torsions.index_select(1, self.bat_index(self.bat_torsion_reference, device)) * self.bat_torsion_offset.to(positions.dtype)
    torsions = self.bat_wrap(torsions - offsets)
    features = torch.cat([root_bonds, bonds, root_angle, angles, torsions], 1)
    all_bonds = torch.cat([root_bonds, bonds], 1)
    all_angles = torch.cat([root_angle, angles], 1)
    log_jacobian = 2.0 * torch.sum(torch.log(all_bonds), 1) + torch.sum(torch.log(torch.sin(all_angles)), 1)
    return features, log_jacobian

def bat_place(self, a: Tensor, b: Tensor, c: Tensor, bond: Tensor, angle: Tensor, torsion: Tensor) -> Tensor:
    bc = c - b
    bc = bc / self.bat_norm(bc).unsqueeze(1)
    n = torch.cross(b - a, bc, dim=-1)
    n = n / self.bat_norm(n).unsqueeze(1)
    m = torch.cross(n, bc, dim=-1)
    along = (-bond * torch.cos(angle)).unsqueeze(1)
    across = (bond * torch.sin(angle)).unsqueeze(1)
    return c + along * bc + across * (torch.cos(torsion).unsqueeze(1) * m + torch.sin(torsion).unsqueeze(1) * n)

def positions_from_features(self, features: Tensor, reference: Tensor) -> Tensor:
    self.check_positions(reference)
    x = features.to(reference.dtype)
    batch = x.size(0)
    rows = len(self.bat_i)
    free = len(self.bat_free_rows)
    bonds = self.bat_bond_length.to(reference.dtype).unsqueeze(0).repeat(batch, 1)
    if free > 0:
        bonds = bonds.index_copy(1, self.bat_index(self.bat_free_rows, x.device), x[:, 2:2 + free])
    root_angle = x[:, 2 + free]
    angles = x[:, 3 + free:3 + free + rows]
    torsions = x[:, 3 + free + rows:3 + free + 2 * rows]
    out = reference.clone()
    # External coordinates from the reference: r0, the direction r0->r1, the plane of r0, r1, r2.
    p0 = reference[:, self.bat_root[0]]
    u = reference[:, self.bat_root[1]] - p0
    u = u / self.bat_norm(u).unsqueeze(1)
    w = reference[:, self.bat_root[2]] - reference[:, self.bat_root[1]]
    w = w - torch.sum(w * u, 1, keepdim=True) * u
    w = w / self.bat_norm(w).unsqueeze(1)
    p1 = p0 + x[:, 0:1] * u
    p2 = p1 + x[:, 1:2] * (-torch.cos(root_angle).unsqueeze(1) * u + torch.sin(root_angle).unsqueeze(1) * w)
    out[:, self.bat_root[1]] = p1
    out[:, self.bat_root[2]] = p2
    absolute: List[Tensor] = []
    for t in range(rows):
        torsion = torsions[:, t]
        first = self.bat_torsion_reference[t]
        if first != t:
            torsion = torsion + absolute[first]
        absolute.append(torsion)
        out[:, self.bat_i[t]] = self.bat_place(out[:, self.bat_l[t]], out[:, self.bat_k[t]], out[:, self.bat_j[t]],
                                               bonds[:, t], angles[:, t], torsion)
    return out
)TS";

c10::List<int64_t> intList(const std::vector<int>& v) {
    c10::List<int64_t> list;
    for (int x : v) list.push_back(x);
    return list;
}

} // namespace

std::string featureSource(FeatureKind kind) {
    std::string source = kCheckSource;
    switch (kind) {
    case FeatureKind::XY: return source + kXYSource;
    case FeatureKind::Polar: return source + kPolarSource;
    case FeatureKind::Positions: return source + kPositionsHead + kCoordinateFeaturesTail;
    case FeatureKind::Cartesian: return source + kCartesianHead + kCoordinateFeaturesTail;
    case FeatureKind::Bat: return source + kBatSource;
    }
    throw std::invalid_argument("bundle: no feature map for feature kind " + std::to_string(static_cast<int>(kind)));
}

void addFeatureMembers(torch::jit::Module& module, const FeatureSpec& features) {
    int n = static_cast<int>(features.atoms.size());
    module.register_attribute(Attribute::kNumAtoms, c10::IntType::get(), static_cast<int64_t>(n));
    module.register_attribute(Attribute::kNumFeatures, c10::IntType::get(), static_cast<int64_t>(features.numFeatures()));
    module.register_attribute(Attribute::kFeatureKind, c10::StringType::get(), std::string(featureKindName(features.kind)));
    if (features.kind == FeatureKind::Cartesian) {
        if (static_cast<int>(features.reference.size()) != 3 * n)
            throw std::invalid_argument(std::string("bundle: features '") + featureKindName(features.kind) + "' need a reference of " +
                                        std::to_string(3 * n) + " coordinates");
        module.register_buffer(Attribute::kReference, torch::tensor(features.reference, torch::kFloat64).reshape({n, 3}));
    } else if (features.kind == FeatureKind::Bat) {
        // Index lists are List[int] attributes (not tensors): module.to(dtype) leaves them alone.
        const BatTree& t = features.bat;
        std::vector<int> column[4];
        std::vector<double> offset;
        for (size_t r = 0; r < t.rows.size(); r++) {
            for (int c = 0; c < 4; c++) column[c].push_back(t.rows[r][c]);
            offset.push_back(t.torsionReference[r] == static_cast<int>(r) ? 0.0 : 1.0);
        }
        auto listType = c10::ListType::ofInts();
        module.register_attribute(Attribute::kBatRoot, listType, intList({t.root[0], t.root[1], t.root[2]}));
        module.register_attribute(Attribute::kBatI, listType, intList(column[0]));
        module.register_attribute(Attribute::kBatJ, listType, intList(column[1]));
        module.register_attribute(Attribute::kBatK, listType, intList(column[2]));
        module.register_attribute(Attribute::kBatL, listType, intList(column[3]));
        module.register_attribute(Attribute::kBatTorsionReference, listType, intList(t.torsionReference));
        module.register_attribute(Attribute::kBatFreeRows, listType, intList(t.freeRows()));
        module.register_buffer(Attribute::kBatTorsionOffset, torch::tensor(offset, torch::kFloat64));
        module.register_buffer(Attribute::kBatBondLength, torch::tensor(t.bondLength, torch::kFloat64));
    }
}

torch::jit::Module makeFeatureModule(const FeatureSpec& features) {
    torch::jit::Module module("VAEFeatures");
    addFeatureMembers(module, features);
    module.define(featureSource(features.kind));
    return module;
}

} // namespace VAEPlugin
