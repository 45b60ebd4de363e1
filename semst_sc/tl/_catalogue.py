"""The built-in vocabulary of tissue compartments and cell types that :func:`semst_sc.tl.annotate_domains` names from.

Written for semst_sc from published knowledge (marker genes as reported in reviews and atlases: Maynard et al. 2021
and the Allen Brain Map taxonomies for the cortex, Zeisel et al. 2018 for the mouse nervous system, the Human Protein
Atlas and the Tabula Sapiens for immune, vascular, stromal and epithelial cells, Ståhl et al. 2016 and Tepe et al.
2018 for the olfactory bulb). Symbols are human; mouse genes match them case-insensitively (``Mbp`` = ``MBP``).
Each entry: the name, its marker symbols (most specific first) and one sentence that describes it (what the text
model compares with a domain's markers and terms).
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    """One compartment or cell type of the catalogue."""

    name: str
    markers: tuple[str, ...]
    description: str


_TABLE = """
white matter | MBP PLP1 MOBP MOG MAG CLDN11 CNP ERMN OPALIN TF ST18 ENPP2 SOX10 CRYAB QDPR APOD PLLP TMEM144 KLK6 CARNS1 | White matter: myelinated axon tracts filled with myelinating oligodendrocytes; myelination, myelin sheath and axon ensheathment.
oligodendrocyte precursor cells | PDGFRA CSPG4 VCAN GPR17 OLIG1 OLIG2 SOX10 PCDH15 LHFPL3 MEGF11 | Oligodendrocyte precursor cells (NG2 glia) that proliferate and differentiate into myelinating oligodendrocytes.
astrocytes | AQP4 GFAP SLC1A3 SLC1A2 ALDH1L1 GJA1 MLC1 AGT FABP7 ATP1A2 GLUL ALDOC SPARCL1 NDRG2 GJB6 ETNPPL SLC4A4 | Astrocytes: star-shaped glia that take up glutamate, regulate water and ions, and form the glia limitans and the perivascular end-feet.
pia and meninges | PTGDS DCN LUM COL1A2 COL1A1 SLC6A13 SLC47A1 CRABP2 IGF2 FMOD VTN ALDH1A2 KCNJ13 COL3A1 MGP | Pia mater and meninges: the fibroblast-rich connective membranes covering the brain surface, with collagen matrix and cerebrospinal fluid barrier cells.
cortical layer 1 | RELN NDNF CXCL14 AQP4 GFAP LAMP5 CHI3L1 MT1G ID3 AGT FABP7 CALB2 | Cortical layer 1 (molecular layer): the cell-sparse outer layer under the pia, with astrocyte end-feet, Cajal-Retzius cells and neurogliaform interneurons among dendrites.
cortical layer 2/3 | CUX2 LAMP5 CALB1 HPCAL1 CARTPT RASGRF2 FREM3 COL5A2 GLRA3 ADCYAP1 C1QL2 OTOF STX1A LINC00507 | Cortical layers 2 and 3: upper-layer intratelencephalic pyramidal neurons projecting to other cortical areas.
cortical layer 4 | RORB RSPO1 WHRN IL1RAPL2 TRABD2A SCN4B NEFH SCNN1A PVALB KCNS1 CPLX3 PDE1A | Cortical layer 4 (granular layer): spiny stellate and RORB-positive excitatory neurons receiving thalamic input.
cortical layer 5 | PCP4 BCL11B FEZF2 ETV1 CRYM POU3F1 HTR2C VAT1L NEFM SMYD1 PARM1 DEPTOR CPNE5 TSHZ2 | Cortical layer 5: large pyramidal neurons projecting to the brainstem, spinal cord and striatum.
cortical layer 6 | TLE4 FOXP2 NTNG2 SEMA3E SYT6 ZFPM2 OPRK1 SULF1 CRYM TSHZ2 NXPH4 | Cortical layer 6: corticothalamic pyramidal neurons projecting to the thalamus.
cortical layer 6b | CCN2 CTGF CPLX3 NXPH4 NR4A2 MOXD1 LRRN3 TPBG | Cortical layer 6b (subplate remnant): the thin deepest neuronal layer above the white matter.
excitatory neurons | SLC17A7 SATB2 CAMK2A NRGN TBR1 NEUROD6 SNAP25 SYT1 RBFOX3 STMN2 | Excitatory glutamatergic neurons of the cortex and hippocampus, with synaptic transmission genes.
PV interneurons | PVALB KCNS1 KCNC1 SCN1A LHX6 TAC1 GAD1 GAD2 SLC32A1 | Parvalbumin-expressing fast-spiking GABAergic basket and chandelier interneurons.
SST interneurons | SST NPY CHODL LHX6 CRHBP GAD1 GAD2 SLC32A1 | Somatostatin-expressing GABAergic interneurons (Martinotti cells) that inhibit distal dendrites.
VIP interneurons | VIP CALB2 CCK ADARB2 CRH CHAT GAD1 GAD2 SLC32A1 | Vasoactive intestinal peptide GABAergic interneurons that inhibit other interneurons.
microglia | P2RY12 CX3CR1 AIF1 CSF1R C1QA C1QB C1QC TYROBP TREM2 TMEM119 GPR34 HEXB | Microglia: the resident macrophages of the brain, phagocytic immune cells surveying the parenchyma.
endothelium and blood vessels | CLDN5 FLT1 VWF PECAM1 CDH5 ESAM ITM2A SLC2A1 KDR EMCN TIE1 APLN HBB HBA1 | Blood vessels: endothelial cells lining capillaries, arteries and veins, forming the blood-brain barrier.
pericytes and smooth muscle | PDGFRB RGS5 ACTA2 MYH11 TAGLN NOTCH3 MYL9 KCNJ8 ABCC9 VTN DES CNN1 | Pericytes and vascular smooth muscle cells: contractile mural cells wrapping blood vessels.
choroid plexus | TTR KL FOLR1 CLIC6 KCNE2 OTX2 SLC4A5 AQP1 PRLR SOSTDC1 | Choroid plexus: epithelium in the ventricles that secretes cerebrospinal fluid.
ependyma and ventricle | FOXJ1 CCDC153 RARRES2 TMEM212 DYNLRB2 RSPH1 TTR S100B CFAP43 | Ependyma: ciliated cells lining the brain ventricles, moving cerebrospinal fluid.
hippocampus CA1 | FIBCD1 WFS1 PEX5L MPPED1 SATB2 NEUROD6 ZBTB20 | Hippocampal field CA1: pyramidal neurons of the hippocampus receiving Schaffer collaterals, for memory.
hippocampus CA3 | CPNE4 BOK IYD COL6A1 NPTX1 PRKCD CHGB ZBTB20 | Hippocampal field CA3: pyramidal neurons with recurrent collaterals receiving mossy fibres.
dentate gyrus | PROX1 C1QL2 DSP STXBP6 LCT PDZD2 NEUROD1 CALB1 | Dentate gyrus: granule cells of the hippocampus, a site of adult neurogenesis.
hippocampus | PROX1 WFS1 FIBCD1 CPNE4 ZBTB20 NEUROD6 TBR1 KCNIP2 CPNE5 | Hippocampus: the curved cortical structure of pyramidal and granule neurons for learning and memory.
striatum | PPP1R1B PENK DRD1 DRD2 TAC1 ADORA2A GPR88 RGS9 PDE10A RARB | Striatum (caudate-putamen): GABAergic medium spiny neurons receiving dopaminergic input.
thalamus | TCF7L2 SLC17A6 ZIC1 GBX2 SHOX2 PROX1 RORA PRKCD | Thalamus: glutamatergic relay neurons sending sensory input to the cortex.
hypothalamus | AVP OXT POMC AGRP HCRT PMCH GAL TRH SST | Hypothalamus: neuroendocrine neurons releasing neuropeptide hormones.
cerebellar granule layer | GABRA6 CBLN1 CBLN3 PAX6 NEUROD1 ZIC1 ZIC2 | Cerebellar granular layer: densely packed granule neurons of the cerebellum.
Purkinje cells | PCP2 CAR8 CALB1 PCP4 ITPR1 GRID2 SLC1A6 | Purkinje cells: the GABAergic output neurons of the cerebellar cortex.
olfactory nerve layer | OMP GNG13 S100A5 CNGA2 ADCY3 FABP7 NGFR FRZB PLP1 MGP SPARC | Olfactory nerve layer: axons of olfactory sensory neurons and olfactory ensheathing glia on the surface of the olfactory bulb.
olfactory bulb glomerular layer | TH DOC2G CALB2 SLC6A3 DLK1 KCTD12 NRSN1 CALB1 VIP GAD1 | Glomerular layer of the olfactory bulb: glomeruli where sensory axons synapse, surrounded by dopaminergic periglomerular cells.
olfactory bulb external plexiform layer | CDHR1 PCP4L1 TBX21 VIP SLC17A7 PVALB GABRA1 KCNA1 | External plexiform layer of the olfactory bulb: tufted cells and dendrodendritic synapses of mitral and granule cells.
olfactory bulb mitral cell layer | TBX21 CDHR1 EOMES SLC17A7 LHX1 SHISA3 PCP4 RELN NTS | Mitral cell layer of the olfactory bulb: the output projection neurons sending odour information to the cortex.
olfactory bulb granule cell layer | PENK GAD1 GAD2 DLX5 SP8 GNG4 TRH MEIS2 NRGN SOX11 | Granule cell layer of the olfactory bulb: GABAergic granule interneurons born in the subventricular zone.
rostral migratory stream | DCX SOX11 DLX2 SP8 ASCL1 MKI67 TOP2A CD24 SOX4 | Rostral migratory stream: neuroblasts migrating from the subventricular zone to the olfactory bulb.
B cells | MS4A1 CD79A CD79B CD19 PAX5 BANK1 CR2 IGHM IGHD FCRL1 | B lymphocytes: antibody-producing adaptive immune cells of lymphoid follicles.
plasma cells | JCHAIN MZB1 IGKC IGHG1 IGHA1 IGLC2 XBP1 SDC1 | Plasma cells: terminally differentiated B cells secreting immunoglobulins.
T cells | CD3D CD3E CD2 CD8A CD4 IL7R TRAC CD247 LCK CCL5 | T lymphocytes: adaptive immune cells with T cell receptors for cell-mediated immunity.
NK cells | NKG7 GNLY KLRD1 GZMB PRF1 KLRF1 NCAM1 | Natural killer cells: innate cytotoxic lymphocytes killing infected and tumour cells.
macrophages | CD68 CD163 LYZ C1QA APOE MRC1 MARCO CSF1R FCGR3A MSR1 | Macrophages: phagocytic immune cells of tissues that clear debris and pathogens and drive inflammation.
dendritic cells | CLEC9A XCR1 CD1C FCER1A CLEC10A LAMP3 CCR7 HLA-DQA1 | Dendritic cells: antigen-presenting cells that activate T cells.
neutrophils | S100A8 S100A9 CSF3R FCGR3B CXCR2 MMP9 | Neutrophils: granulocytes of acute inflammation.
mast cells | TPSAB1 TPSB2 CPA3 KIT MS4A2 HDC | Mast cells: granulocytes releasing histamine in allergy.
fibroblasts and stroma | COL1A1 COL1A2 COL3A1 DCN LUM PDGFRA FBLN1 POSTN SFRP2 MMP2 | Fibroblasts and stroma: connective tissue cells depositing collagen and extracellular matrix.
smooth muscle | ACTA2 MYH11 DES CNN1 TAGLN ACTG2 LMOD1 | Smooth muscle: contractile cells of the walls of vessels and hollow organs.
epithelium | EPCAM KRT8 KRT18 KRT19 CDH1 CLDN4 CLDN7 ELF3 | Simple epithelium: polarised cells joined by tight junctions that line glands and ducts.
squamous epithelium | KRT5 KRT14 KRT1 KRT10 TP63 SFN DSG3 KRT6A | Stratified squamous epithelium (epidermis): keratinocytes forming a protective barrier.
proliferating tumour | MKI67 TOP2A BIRC5 CCNB1 CENPF TPX2 UBE2C CDK1 | Tumour: malignant cells dividing rapidly, with cell cycle and mitosis genes.
hypoxic tumour core | CA9 VEGFA NDRG1 BNIP3 SLC2A1 PGK1 ADM ANGPTL4 | Hypoxic tumour core: cells responding to low oxygen with glycolysis and angiogenesis.
adipose tissue | ADIPOQ LEP PLIN1 FABP4 CIDEA CIDEC LPL | Adipose tissue: fat-storing adipocytes regulating lipid metabolism.
hepatocytes | ALB APOA1 APOC3 TTR SERPINA1 CYP3A4 FGB HP | Hepatocytes: liver parenchymal cells of metabolism and plasma protein secretion.
erythrocytes and blood | HBB HBA1 HBA2 ALAS2 HBD CA1 | Blood: red blood cells carrying oxygen with haemoglobin.
"""

#: the catalogue, in the order above
CATALOGUE: tuple[Entry, ...] = tuple(
    Entry(name.strip(), tuple(markers.split()), description.strip())
    for name, markers, description in (line.split("|") for line in _TABLE.strip().splitlines())
)
